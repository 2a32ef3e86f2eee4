-- media_content: the bytes, type, filename and size of a stored row; nothing for a row without bytes.
begin;
select plan(2);
select wapipe_tests.reset();
select wapipe.claim_media('wamid.d', '1', 'document', '{"id": "1", "filename": "menu.pdf"}', 'w1', 60);
select is_empty($$ select * from wapipe.media_content((select id from wapipe.media)) $$,
  'nothing while it is being fetched');
select wapipe.store_media((select id from wapipe.media), 'w1', '%PDF'::bytea, 'application/pdf');
select results_eq($$ select * from wapipe.media_content((select id from wapipe.media)) $$,
  $$ values ('%PDF'::bytea, 'application/pdf'::text, 'menu.pdf'::text, 4::bigint) $$,
  'the stored bytes with their type, filename and size');
select * from finish();
rollback;
