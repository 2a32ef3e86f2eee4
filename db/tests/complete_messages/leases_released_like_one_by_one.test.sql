-- _release_conversation_leases leaves each conversation exactly as _release_conversation_lease
-- does: head, rank, backoff gate and last_inbound_at.
begin;
select plan(1);
select wapipe_tests.reset();
-- two pairs of identical conversations: finished head with a next message, and a head in backoff
select wapipe_tests.enqueue_text(u, 'one', 'wamid.' || u || '.1', wa_timestamp => 1764000001)
from unnest(array['250700000001', '250700000002', '250700000003', '250700000004']) u;
select wapipe_tests.enqueue_text(u, 'two', 'wamid.' || u || '.2', wa_timestamp => 1764000002)
from unnest(array['250700000001', '250700000002']) u;
select wapipe_tests.claim('worker-1');
update wapipe.processed_messages set status = 'done', processed_at = now()
 where wamid in ('wamid.250700000001.1', 'wamid.250700000002.1');
update wapipe.processed_messages set status = 'queued', next_attempt_at = now() + interval '5 seconds'
 where wamid in ('wamid.250700000003.1', 'wamid.250700000004.1');
select wapipe._release_conversation_lease(wapipe_tests.conv('250700000001'));
select wapipe._release_conversation_lease(wapipe_tests.conv('250700000003'));
select wapipe._release_conversation_leases(array[wapipe_tests.conv('250700000002'), wapipe_tests.conv('250700000004')]);
select results_eq(
  $$ select locked_by, locked_until, m.wamid ~ '\.2$', head_priority, head_wa_timestamp, head_rank - head_received_at,
            available_at, last_inbound_at
     from wapipe.conversations c left join wapipe.processed_messages m on m.id = c.head_message_id
     where c.wa_id in ('250700000002', '250700000004') order by c.wa_id $$,
  $$ select locked_by, locked_until, m.wamid ~ '\.2$', head_priority, head_wa_timestamp, head_rank - head_received_at,
            available_at, last_inbound_at
     from wapipe.conversations c left join wapipe.processed_messages m on m.id = c.head_message_id
     where c.wa_id in ('250700000001', '250700000003') order by c.wa_id $$,
  'the same state as one by one');
select * from finish();
rollback;
