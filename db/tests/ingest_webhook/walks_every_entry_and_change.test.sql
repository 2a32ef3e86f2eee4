-- Every entry and every change of a POST is read, not only the first.
begin;
select plan(3);
select wapipe_tests.reset();

select results_eq(
  $$ select new_messages, statuses from wapipe.ingest_webhook(jsonb_build_object(
       'object', 'whatsapp_business_account',
       'entry', jsonb_build_array(
         jsonb_build_object('id', 'A', 'changes', jsonb_build_array(
           wapipe_tests.text_payload('250700000001', 'a1', 'wamid.a1') #> '{entry,0,changes,0}',
           wapipe_tests.text_payload('250700000002', 'a2', 'wamid.a2', '999') #> '{entry,0,changes,0}')),
         jsonb_build_object('id', 'B', 'changes', jsonb_build_array(
           wapipe_tests.sample('status_sent') #> '{entry,0,changes,0}',
           wapipe_tests.text_payload('250700000003', 'b1', 'wamid.b1') #> '{entry,0,changes,0}')))), 'multi') $$,
  $$ values (3, 1) $$,
  'three messages across two entries and four changes, plus a status');
select is((select phone_number_id from wapipe.processed_messages where wamid = 'wamid.a2'), '999',
  'each change keeps its own business number');
select is((select count(*)::int from wapipe.conversations), 3, 'three conversations');

select * from finish();
rollback;
