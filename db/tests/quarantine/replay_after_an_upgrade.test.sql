-- A held item is replayed alone in its envelope: once readable it is ingested (and its
-- message queued) and marked replayed; an item still unreadable stays held; dry runs change nothing.
begin;
select plan(7);
select wapipe_tests.reset();

-- a message quarantined for lack of metadata.phone_number_id
select wapipe.ingest_webhook(wapipe_tests.text_payload('250700000001', 'hi', 'wamid.q1')
  #- '{entry,0,changes,0,value,metadata,phone_number_id}', 'q1');
-- and one with no id
select wapipe.ingest_webhook(wapipe_tests.text_payload('250700000002', 'hi')
  #- '{entry,0,changes,0,value,messages,0,id}', 'q2');
select is((select count(*)::int from wapipe.quarantine where status = 'held'), 2, 'two items held');

-- "the upgrade": an operator repairs the first envelope by hand
update wapipe.quarantine
set replay_payload = jsonb_set(replay_payload, '{entry,0,changes,0,value,metadata,phone_number_id}',
                               '"300100200300400"')
where reason like '%phone_number_id%';

select results_eq(
  $$ select outcome from wapipe.replay_quarantine(reason_like => '%', dry_run => true) order by quarantine_id $$,
  $$ values ('would_replay'), ('still_unreadable') $$, 'a dry run tells what a replay would do');
select is((select count(*)::int from wapipe.quarantine where status = 'held'), 2, 'and changes nothing');

select results_eq(
  $$ select outcome, event_id is not null from wapipe.replay_quarantine(reason_like => '%') order by quarantine_id $$,
  $$ values ('replayed', true), ('still_unreadable', false) $$, 'the readable one is replayed');
select is((select status from wapipe.processed_messages where wamid = 'wamid.q1'), 'queued',
  'its message is stored and queued');
select results_eq(
  $$ select status, replay_event_id is not null from wapipe.quarantine order by id $$,
  $$ values ('replayed', true), ('held', false) $$, 'the replayed item is marked, the other stays held');
select is((select count(*)::int from wapipe.replay_quarantine(reason_like => '%')
           where outcome = 'replayed'), 0, 'a replayed item is not replayed twice');

select * from finish();
rollback;
