-- The media functions: bad arguments refused; the worker calls them, the ingress only reads content, cleanup is the owner's.
begin;
select plan(14);
select throws_ok($$ select * from wapipe.claim_media('', '1', 'image', '{}', 'w', 60) $$, '22023', null,
  'an empty wamid is refused');
select throws_ok($$ select * from wapipe.claim_media('w.1', '1', 'image', '[]', 'w', 60) $$, '22023', null,
  'a source that is not an object is refused');
select throws_ok($$ select * from wapipe.claim_media('w.1', '1', 'image', '{}', 'w', 0) $$, '22023',
  'claim_media: lease_seconds must be at least 1, got 0', 'a lease under a second is refused');
select function_privs_are('wapipe', 'claim_media', array['text', 'text', 'text', 'jsonb', 'text', 'integer'],
  'wapipe_worker', array['EXECUTE'], 'the worker may claim media');
select function_privs_are('wapipe', 'claim_media', array['text', 'text', 'text', 'jsonb', 'text', 'integer'],
  'wapipe_ingress', array[]::text[], 'the ingress may not claim media');
select function_privs_are('wapipe', 'store_media', array['bigint', 'text', 'bytea', 'text'],
  'wapipe_worker', array['EXECUTE'], 'the worker may store media');
select function_privs_are('wapipe', 'fail_media', array['bigint', 'text', 'text', 'text', 'bigint', 'text'],
  'wapipe_worker', array['EXECUTE'], 'the worker may fail media');
select function_privs_are('wapipe', 'store_media', array['bigint', 'text', 'bytea', 'text'],
  'wapipe_monitor', array[]::text[], 'the monitor may not store media');
select function_privs_are('wapipe', 'media_content', array['bigint'], 'wapipe_ingress', array['EXECUTE'],
  'the ingress may read stored media (signed URLs)');
select function_privs_are('wapipe', 'media_content', array['bigint'], 'wapipe_monitor', array[]::text[],
  'the monitor may not read media bytes');
select function_privs_are('wapipe', 'cleanup_media', array[]::text[], r, array[]::text[],
  r || ' may not execute cleanup_media')
from unnest(array['wapipe_ingress', 'wapipe_worker', 'wapipe_monitor']) r;
set local role wapipe_ingress;
select throws_ok($$ select * from wapipe.claim_media('w.1', '1', 'image', '{}', 'w', 60) $$, '42501', null,
  'the ingress role cannot claim');
reset role;
select * from finish();
rollback;
