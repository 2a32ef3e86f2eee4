-- Within one WhatsApp second, a conversation's order is the order of the POSTs and of
-- the messages in them (processed_messages.id), whatever their wamids sort as.
begin;
select plan(2);
select wapipe_tests.reset();

select lives_ok($$
  select * from wapipe.ingest_webhooks(array[
    jsonb_set(wapipe_tests.text_payload('250700000001', 'first', 'wamid.zzz'),
              '{entry,0,changes,0,value,messages}',
              (wapipe_tests.text_payload('250700000001', 'first', 'wamid.zzz') #> '{entry,0,changes,0,value,messages}')
              || (wapipe_tests.text_payload('250700000001', 'second', 'wamid.mmm') #> '{entry,0,changes,0,value,messages}')),
    wapipe_tests.text_payload('250700000001', 'third', 'wamid.aaa')], array['a', 'b']) $$,
  'two POSTs, three messages of one user');
select results_eq(
  $$ select payload->'text'->>'body' from wapipe.processed_messages order by wa_timestamp, id $$,
  $$ values ('first'), ('second'), ('third') $$,
  'conversation order follows the payloads, not the wamids');

select * from finish();
rollback;
