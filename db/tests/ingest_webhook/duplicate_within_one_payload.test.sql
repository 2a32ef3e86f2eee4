-- A wamid repeated inside one POST is stored and queued once: the first in payload order.
begin;
select plan(3);
select wapipe_tests.reset();

select results_eq(
  $$ select new_messages, duplicates from wapipe.ingest_webhook(
       jsonb_set(wapipe_tests.text_payload('250700000001', 'first', 'wamid.same'),
                 '{entry,0,changes,0,value,messages}',
                 (wapipe_tests.text_payload('250700000001', 'first', 'wamid.same')
                    #> '{entry,0,changes,0,value,messages}')
                 || (wapipe_tests.text_payload('250700000001', 'second', 'wamid.same')
                    #> '{entry,0,changes,0,value,messages}')), 'cid') $$,
  $$ values (1, 1) $$, 'one new, one duplicate');
select is((select count(*)::int from pgmq.q_wapipe_inbound), 1, 'queued once');
select results_eq($$ select payload->'text'->>'body' from wapipe.processed_messages $$,
  $$ values ('first') $$, 'the first is kept');

select * from finish();
rollback;
