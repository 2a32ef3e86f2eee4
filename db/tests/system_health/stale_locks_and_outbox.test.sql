-- Conversation leases expired long ago and replies left unsent degrade (outbox: then critical) the system.
begin;
select plan(5);
select wapipe_tests.reset();
select wapipe.register_worker('w-live', 'host-a', 101);
select wapipe_tests.enqueue_text('250700000001', 'hi');
select wapipe_tests.claim('w-live', 1);

select wapipe_tests.expire_lease(wapipe_tests.conv('250700000001'), '301 seconds');
select results_eq($$ select status, details->'stale_locks' from wapipe.system_health() $$,
  $$ values ('degraded'::text, '1'::jsonb) $$, 'a lease expired 301 s ago: stale, degraded');
select ok((select '1 stale conversation leases (is wapipe-stale-locks running?)' = any (reasons)
             from wapipe.system_health()), 'the reason names the job to check');
select wapipe.cleanup_stale_message_locks();
select is((select details->'stale_locks' from wapipe.system_health()), '0'::jsonb, 'cleared by the cleanup');

select wapipe_tests.reset();
insert into wapipe.outbox (source_key, phone_number_id, to_wa_id, body, created_at)
values ('wamid.x', '300100200300400', '250700000001', '{"type": "text"}', now() - interval '121 seconds');
select results_eq($$ select status, reasons from wapipe.system_health() $$,
  $$ values ('degraded'::text, array['oldest unsent reply waiting 121 s (degraded at 120 s)']) $$,
  'a reply unsent for 121 s: degraded');
update wapipe.outbox set created_at = now() - interval '901 seconds';
select is((select status from wapipe.system_health()), 'critical', 'unsent for 901 s: critical');
select * from finish();
rollback;
