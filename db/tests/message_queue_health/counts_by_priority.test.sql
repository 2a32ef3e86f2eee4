-- message_queue_health counts queued, processing, retrying and dead messages per priority.
begin;
select plan(2);
select wapipe_tests.reset();

insert into wapipe.processed_messages
  (wamid, conversation_key, phone_number_id, from_wa_id, message_type, payload, wa_timestamp,
   priority, status, attempts, received_at, processed_at)
select w, 'p:' || w, 'p', w, 'text', '{}', now(), pr, st, att, now() - age,
       case when st in ('done', 'dead') then now() end
from (values
  ('m1', 5::smallint, 'queued', 0, interval '10 minutes'),
  ('m2', 5, 'queued', 2, interval '5 minutes'),
  ('m3', 5, 'processing', 1, interval '3 minutes'),
  ('m4', 8, 'queued', 0, interval '1 minute'),
  ('m5', 3, 'dead', 3, interval '1 hour'),
  ('m6', 3, 'queued', 0, interval '2 minutes'),   -- replayed from the dead letters
  ('m7', 1, 'done', 1, interval '1 hour')
) v(w, pr, st, att, age);
insert into wapipe.dead_letters (message_id, wamid, conversation_key, message_type, attempts, replayed_at)
select m.id, m.wamid, m.conversation_key, m.message_type, 3, case when m.wamid = 'm6' then now() end
from wapipe.processed_messages m where m.wamid in ('m5', 'm6');
-- The pgmq mirror: every unfinished message, the claimed one invisible.
insert into pgmq.q_wapipe_inbound (vt, message, headers)
select case when m.status = 'processing' then now() + interval '30 seconds' else now() end,
       jsonb_build_object('message_id', m.id), jsonb_build_object('priority', m.priority)
from wapipe.processed_messages m where m.status in ('queued', 'processing');

select results_eq(
  $$ select priority::int, queued, processing, retrying, dead, unfinished, total, pgmq_depth, pgmq_visible,
            oldest_queued_age
       from wapipe.message_queue_health $$,
  $$ values (8, 1::bigint, 0::bigint, 0::bigint, 0::bigint, 1::bigint, 1::bigint, 1::bigint, 1::bigint, interval '1 minute'),
            (5, 2, 1, 1, 0, 3, 3, 3, 2, interval '10 minutes'),
            (3, 1, 0, 0, 1, 1, 2, 1, 1, interval '2 minutes') $$,
  'per priority, highest first; done messages and replayed dead letters are not dead');
select is((select count(*)::int from wapipe.message_queue_health where priority = 1), 0,
  'a priority with only finished messages has no row');

select * from finish();
rollback;
