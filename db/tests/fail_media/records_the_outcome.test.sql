-- fail_media: the holder records failed / oversize / gone with the reason; other outcomes and non-holders are refused.
begin;
select plan(4);
select wapipe_tests.reset();
select wapipe.claim_media('wamid.f', '1', 'video', '{"id": "1"}', 'w1', 60);

select throws_ok($$ select wapipe.fail_media((select id from wapipe.media), 'w1', 'stored', 'x') $$, '22023',
  'fail_media: outcome must be failed, oversize or gone, got stored', 'an unknown outcome is refused');
select throws_ok($$ select wapipe.fail_media((select id from wapipe.media), 'w2', 'gone', 'x') $$, 'WA001',
  null, 'a worker that does not hold the row cannot fail it');
select is(wapipe.fail_media((select id from wapipe.media), 'w1', 'oversize', 'larger than 16777216 bytes', 20000000, 'video/mp4'),
  'oversize', 'the holder records oversize');
select results_eq(
  $$ select status, error, size_bytes, mime_type, content is null, locked_until is null from wapipe.media $$,
  $$ values ('oversize'::text, 'larger than 16777216 bytes'::text, 20000000::bigint, 'video/mp4'::text, true, true) $$,
  'with its reason, size and type, no bytes and no lease');
select * from finish();
rollback;
