-- end_handoff gives the conversation back at once and says whether there was one; a new start is a new handoff.
begin;
select plan(5);
select wapipe_tests.reset();
select wapipe.start_handoff(wapipe_tests.conv('250700000001'), 'operator:eric', 'help', 30);
select is(wapipe.end_handoff(wapipe_tests.conv('250700000001'), 'operator:eric'), true, 'an open handoff is ended');
select results_eq($$ select ended_by, ended_at <= now() from wapipe.handoffs $$,
  $$ values ('operator:eric'::text, true) $$, 'ended now, by whom');
select is(wapipe.end_handoff(wapipe_tests.conv('250700000001'), 'operator:eric'), false, 'nothing left to end');
select is((select count(*)::int from wapipe.list_handoffs()), 0, 'no handoff in force');
select wapipe.start_handoff(wapipe_tests.conv('250700000001'), 'rule:human', null, 30);
select is((select count(*)::int from wapipe.handoffs), 2, 'a later start is a new handoff; the ended one stays as history');
select * from finish();
rollback;
