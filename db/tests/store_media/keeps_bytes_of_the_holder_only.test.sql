-- store_media: only the holder stores; the bytes, size and sha256 are kept and the lease is given back.
begin;
select plan(5);
select wapipe_tests.reset();
select wapipe.claim_media('wamid.s', '1', 'image', '{"id": "1", "mime_type": "image/jpeg"}', 'w1', 60);

select throws_ok($$ select wapipe.store_media((select id from wapipe.media), 'w2', '\x00'::bytea) $$, 'WA001',
  null, 'a worker that does not hold the row cannot store');
select throws_ok($$ select wapipe.store_media((select id from wapipe.media), 'w1', null) $$, '22023',
  'store_media: content is required', 'no content is refused');
select is(wapipe.store_media((select id from wapipe.media), 'w1', 'hello'::bytea), 5::bigint,
  'the holder stores; the size is returned');
select results_eq(
  $$ select status, content, size_bytes, sha256, mime_type, locked_by from wapipe.media $$,
  $$ values ('stored'::text, 'hello'::bytea, 5::bigint, encode(sha256('hello'::bytea), 'hex'),
             'image/jpeg'::text, null::text) $$,
  'stored with its sha256, the webhook''s mime type and no lease');
select throws_ok($$ select wapipe.store_media((select id from wapipe.media), 'w1', 'x'::bytea) $$, 'WA001',
  null, 'a stored row is not stored twice');
select * from finish();
rollback;
