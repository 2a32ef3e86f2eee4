-- workflow_health: per type, active/completed/failed/expired, completion rate and mean duration.
begin;
select plan(1);
select wapipe_tests.reset();

insert into wapipe.workflow_states
  (user_phone, workflow_type, current_step, status, step_timeout, started_at, expires_at, finished_at)
values
  ('u1', 'booking', 'date', 'active', '30 minutes', now() - interval '5 minutes', now() + interval '25 minutes', null),
  ('u2', 'booking', 'date', 'active', '30 minutes', now() - interval '40 minutes', now() - interval '10 minutes', null),
  ('u3', 'booking', 'done', 'completed', '30 minutes', now() - interval '1 hour', now(), now() - interval '50 minutes'),
  ('u4', 'booking', 'done', 'completed', '30 minutes', now() - interval '2 hours', now(), now() - interval '1 hour 30 minutes'),
  ('u5', 'booking', 'pay', 'failed', '30 minutes', now() - interval '1 hour', now(), now() - interval '59 minutes'),
  ('u6', 'booking', 'date', 'expired', '30 minutes', now() - interval '3 hours', now(), now() - interval '2 hours'),
  ('u7', 'survey', 'q1', 'active', '30 minutes', now(), now() + interval '30 minutes', null);

select results_eq(
  $$ select workflow_type, active, overdue, completed, failed, expired, completion_rate, avg_completed_duration
       from wapipe.workflow_health $$,
  $$ values ('booking'::text, 2::bigint, 1::bigint, 2::bigint, 1::bigint, 1::bigint, 0.5000::numeric, interval '20 minutes'),
            ('survey', 1, 0, 0, 0, 0, null, null) $$,
  'booking: 2 of 4 finished completed, 10 and 30 minutes long; survey: nothing finished');

select * from finish();
rollback;
