-- start_handoff starts a handoff (who, why, until when) and extends an open one, never shortening it.
begin;
select plan(6);
select wapipe_tests.reset();

select (wapipe.start_handoff(wapipe_tests.conv('250700000001'), 'operator:eric', 'asked for a person', 20)).id as first_id \gset
select results_eq(
  $$ select phone_number_id, user_key, started_by, reason, ended_at is null,
            abs(extract(epoch from until - (now() + interval '20 minutes'))) < 2
     from wapipe.handoffs $$,
  $$ values ('300100200300400'::text, '250700000001'::text, 'operator:eric'::text, 'asked for a person'::text, true, true) $$,
  'started: who, why, until now + 20 min');

select (wapipe.start_handoff(wapipe_tests.conv('250700000001'), 'business_app', null, 60)).id as second_id \gset
select is(:second_id, :first_id, 'a second start extends the same handoff');
select results_eq(
  $$ select extended_by, abs(extract(epoch from until - (now() + interval '60 minutes'))) < 2, reason
     from wapipe.handoffs $$,
  $$ values ('business_app'::text, true, 'asked for a person'::text) $$,
  'extended to now + 60 min by its new starter; the first reason stays');

select wapipe.start_handoff(wapipe_tests.conv('250700000001'), 'agent:waiter', null, 5);
select ok((select until > now() + interval '59 minutes' from wapipe.handoffs), 'a shorter ask never shortens it');
select is((select count(*)::int from wapipe.handoffs), 1, 'still one handoff row');

select ok((select until > now() + interval '59 minutes'
           from wapipe.start_handoff(wapipe_tests.conv('250700000009'), 'rule:human')), 
  'without minutes: handoff.default_minutes (60)');

select * from finish();
rollback;
