-- cleanup_media deletes media (bytes included) older than media.retention_days and keeps the rest.
begin;
select plan(2);
select wapipe_tests.reset();
select wapipe.claim_media('wamid.old', '1', 'image', '{"id": "1"}', 'w1', 60);
select wapipe.store_media((select id from wapipe.media where wamid = 'wamid.old'), 'w1', 'old'::bytea);
select wapipe.claim_media('wamid.new', '1', 'image', '{"id": "2"}', 'w1', 60);
update wapipe.media set created_at = now() - interval '8 days' where wamid = 'wamid.old';
select is(wapipe.cleanup_media(), 1, 'the media past 7 days is deleted');
select results_eq($$ select wamid from wapipe.media $$, $$ values ('wamid.new'::text) $$, 'the recent one is kept');
select * from finish();
rollback;
