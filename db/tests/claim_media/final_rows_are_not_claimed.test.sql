-- claim_media: stored, oversize and gone rows come back as they are; a failed row is claimed again.
begin;
select plan(5);
select wapipe_tests.reset();

select wapipe.claim_media('wamid.s', '1', 'image', '{"id": "1"}', 'w1', 60);
select wapipe.store_media((select id from wapipe.media where wamid = 'wamid.s'), 'w1', '\x010203'::bytea, 'image/png');
select results_eq(
  $$ select status, claimed, mime_type, size_bytes, sha256 from wapipe.claim_media('wamid.s', '1', 'image', '{"id": "1"}', 'w2', 60) $$,
  $$ values ('stored'::text, false, 'image/png'::text, 3::bigint, encode(sha256('\x010203'::bytea), 'hex')) $$,
  'a stored row is returned with its size and sha256, not claimed');

select wapipe.claim_media('wamid.o', '1', 'video', '{"id": "2"}', 'w1', 60);
select wapipe.fail_media((select id from wapipe.media where wamid = 'wamid.o'), 'w1', 'oversize', 'too big', 99999999);
select results_eq(
  $$ select status, claimed, size_bytes from wapipe.claim_media('wamid.o', '1', 'video', '{"id": "2"}', 'w2', 60) $$,
  $$ values ('oversize'::text, false, 99999999::bigint) $$, 'an oversize row stays oversize');

select wapipe.claim_media('wamid.g', '1', 'audio', '{"id": "3"}', 'w1', 60);
select wapipe.fail_media((select id from wapipe.media where wamid = 'wamid.g'), 'w1', 'gone', 'HTTP 404');
select results_eq(
  $$ select status, claimed, error from wapipe.claim_media('wamid.g', '1', 'audio', '{"id": "3"}', 'w2', 60) $$,
  $$ values ('gone'::text, false, 'HTTP 404'::text) $$, 'a gone row stays gone, with its reason');

select wapipe.claim_media('wamid.f', '1', 'document', '{"id": "4"}', 'w1', 60);
select wapipe.fail_media((select id from wapipe.media where wamid = 'wamid.f'), 'w1', 'failed', 'HTTP 500');
select results_eq(
  $$ select status, claimed from wapipe.claim_media('wamid.f', '1', 'document', '{"id": "4"}', 'w2', 60) $$,
  $$ values ('fetching'::text, true) $$, 'a failed row is claimed again (the retry downloads it)');
select is((select count(*)::int from wapipe.media), 4, 'one row per message');
select * from finish();
rollback;
