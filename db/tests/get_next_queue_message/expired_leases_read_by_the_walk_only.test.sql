-- A claim checks for abandoned heads (expired lease of the last allowed attempt) only among the
-- heads its walk reaches: it does not read every expired lease in the system on each call, and
-- heads ranked alike are claimed with their own conversation's lease.
begin;
select plan(6);
select wapipe_tests.reset();

-- two fresh conversations first in line, 300 abandoned ones ranked after them
select wapipe_tests.enqueue_text('250700000001', 'first', 'wamid.first');
select wapipe_tests.enqueue_text('250700000002', 'second', 'wamid.second');
select count(wapipe_tests.enqueue_text('2508' || lpad(i::text, 8, '0'), 'late', 'wamid.late.' || i))
from generate_series(1, 300) i;
select count(wapipe_tests.age_message(m.id, interval '1 hour'))
from wapipe.processed_messages m where m.wamid in ('wamid.first', 'wamid.second');
update wapipe.processed_messages m
   set status = 'processing', claimed_by = 'w-crashed', claimed_at = now() - interval '2 minutes',
       attempts = 3
 where m.wamid like 'wamid.late.%';
update wapipe.conversations c
   set locked_by = 'w-crashed', locked_until = now() - interval '1 minute', locked_at = now() - interval '2 minutes'
 where c.wa_id like '2508%';

create temp table before on commit drop as
select pg_stat_get_xact_tuples_fetched('wapipe.conversations'::regclass)
       + pg_stat_get_xact_tuples_returned('wapipe.conversations'::regclass) as n;
create temp table claimed on commit drop as
select * from wapipe.get_next_queue_message('worker-1', 30, 2);
select is((select array_agg(wamid order by wamid) from claimed), array['wamid.first', 'wamid.second'],
  'the two heads first in line are claimed');
select cmp_ok(pg_stat_get_xact_tuples_fetched('wapipe.conversations'::regclass)
              + pg_stat_get_xact_tuples_returned('wapipe.conversations'::regclass)
              - (select n from before),
              '<', 50::bigint, 'a few conversations read, not the 300 expired leases');
select is((select count(*) from wapipe.processed_messages where wamid like 'wamid.late.%' and status = 'processing'),
  300::bigint, 'abandoned heads the walk did not reach are left to the minute cleanup');

-- the walk reaches them: all dead-lettered in one call, the claim returns nothing for them
select is((select count(*) from wapipe.get_next_queue_message('worker-2', 30, 400)), 0::bigint,
  'abandoned heads are never claimed');
select is((select count(*) from wapipe.dead_letters where wamid like 'wamid.late.%'), 300::bigint,
  'every abandoned head the walk reached is in the dead letters');

-- heads with the same rank: each conversation leased for its own head
select wapipe_tests.reset();
select wapipe_tests.enqueue_text('25070000000' || i, 'same', 'wamid.same.' || i) from generate_series(1, 6) i;
update wapipe.processed_messages set received_at = '2026-01-01 00:00:00+00';
select wapipe._release_conversation_leases(array_agg(conversation_key)) from wapipe.conversations;
create temp table tied on commit drop as
select * from wapipe.get_next_queue_message('worker-1', 30, 6);
select results_eq(
  $$ select message_id, conversation_key from tied order by 1 $$,
  $$ select c.head_message_id, c.conversation_key from wapipe.conversations c
     where c.locked_by = 'worker-1' order by 1 $$,
  'ties in head rank: every claimed message is the head of the conversation leased for it');
select * from finish();
rollback;
