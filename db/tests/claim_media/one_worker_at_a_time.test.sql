-- claim_media: the first worker holds the row under a lease; another waits until it ends, then takes over.
begin;
select plan(7);
select wapipe_tests.reset();

select results_eq(
  $$ select status, claimed, wait_ms from wapipe.claim_media('wamid.m1', '300100200300400', 'image',
       '{"id": "555", "mime_type": "image/jpeg"}', 'w1', 60) $$,
  $$ values ('fetching'::text, true, 0) $$, 'the first worker claims a new row');
select is((select mime_type from wapipe.media where wamid = 'wamid.m1'), 'image/jpeg',
  'the webhook''s mime type is kept');
select results_eq(
  $$ select status, claimed, wait_ms > 0 and wait_ms <= 60000 from wapipe.claim_media('wamid.m1',
       '300100200300400', 'image', '{"id": "555"}', 'w2', 60) $$,
  $$ values ('fetching'::text, false, true) $$, 'a second worker does not, and is told how long to wait');
select is((select claimed from wapipe.claim_media('wamid.m1', '300100200300400', 'image', '{"id": "555"}', 'w1', 60)),
  true, 'the holder may claim again (its lease is extended)');
update wapipe.media set locked_until = now() - interval '1 second' where wamid = 'wamid.m1';
select is((select claimed from wapipe.claim_media('wamid.m1', '300100200300400', 'image', '{"id": "555"}', 'w2', 60)),
  true, 'once the lease has ended another worker takes over');
select is((select locked_by from wapipe.media where wamid = 'wamid.m1'), 'w2', 'and holds it');
select is((select attempts from wapipe.media where wamid = 'wamid.m1'), 3, 'every claim that held it is counted');
select * from finish();
rollback;
