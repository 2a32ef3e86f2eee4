-- A handoff stops counting when its time passes; expire_handoffs (the minute job) closes it as expiry.
begin;
select plan(5);
select wapipe_tests.reset();
select wapipe.start_handoff(wapipe_tests.conv('250700000001'), 'business_app', null, 30);
select wapipe.start_handoff(wapipe_tests.conv('250700000002'), 'business_app', null, 30);
update wapipe.handoffs set started_at = now() - interval '40 minutes', until = now() - interval '10 minutes'
 where user_key = '250700000001';
select is((select array_agg(user_key) from wapipe.list_handoffs()), array['250700000002'],
  'past its until it is no longer in force, before the job runs');
select is((select handed_off from wapipe.message_context('250700000001', 'waiter', '{}', null, null, null, null,
                                                          wapipe_tests.conv('250700000001'))), null,
  'and the worker''s context no longer says handed_off');
select is(wapipe.expire_handoffs(), 1, 'the job closes the expired one');
select results_eq($$ select user_key, ended_by, ended_at = until from wapipe.handoffs where ended_at is not null $$,
  $$ values ('250700000001'::text, 'expiry'::text, true) $$, 'ended at its until, by expiry');
select is(wapipe.expire_handoffs(), 0, 'a second run closes nothing');
select * from finish();
rollback;
