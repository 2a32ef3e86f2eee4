-- Several POSTs in one call: each is its own raw event with its own counts and
-- correlation id; a wamid repeated across them is stored and queued once.
begin;
select plan(9);
select wapipe_tests.reset();

create temp table r on commit drop as
select * from wapipe.ingest_webhooks(array[
    wapipe_tests.text_payload('250700000001', 'hi', 'wamid.b1'),
    wapipe_tests.sample('status_read'),
    wapipe_tests.text_payload('250700000002', 'hello', 'wamid.b2'),
    wapipe_tests.text_payload('250700000001', 'hi again', 'wamid.b1')],
  array['cid-1', 'cid-2', 'cid-3', 'cid-4']);

select results_eq($$ select ord, new_messages, duplicates, statuses, errors from r order by ord $$,
  $$ values (1, 1, 0, 0, 0), (2, 0, 0, 1, 0), (3, 1, 0, 0, 0), (4, 0, 1, 0, 0) $$,
  'one row per payload, in order, with its own counts');
select is((select count(distinct event_id)::int from r), 4, 'four events');
select results_eq(
  $$ select e.correlation_id, e.new_messages, e.duplicates, e.statuses
     from wapipe.webhook_events e join r on r.event_id = e.id order by r.ord $$,
  $$ values ('cid-1', 1, 0, 0), ('cid-2', 0, 0, 1), ('cid-3', 1, 0, 0), ('cid-4', 0, 1, 0) $$,
  'each raw event keeps its correlation id and counts');
select ok((select bool_and(e.payload is not null) from wapipe.webhook_events e), 'raw bodies kept');
select is((select count(*)::int from wapipe.processed_messages), 2, 'two messages stored');
select is((select count(*)::int from pgmq.q_wapipe_inbound), 2, 'two queued');
select results_eq(
  $$ select m.wamid, m.correlation_id, m.webhook_event_id = r.event_id
     from wapipe.processed_messages m join r on r.ord = case m.wamid when 'wamid.b1' then 1 else 3 end
     order by m.wamid $$,
  $$ values ('wamid.b1', 'cid-1', true), ('wamid.b2', 'cid-3', true) $$,
  'a message points at the POST that brought it first');
select is((select count(*)::int from wapipe.conversations where head_message_id is not null), 2,
  'two conversations with a head');
select is((select count(*)::int from wapipe.message_statuses), 1, 'the status is recorded');

select * from finish();
rollback;
