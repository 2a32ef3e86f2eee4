-- start_handoff refuses a malformed conversation key, an empty starter and a length out of range.
begin;
select plan(4);
select wapipe_tests.reset();
select throws_ok($$ select wapipe.start_handoff('250700000001', 'operator', null, 10) $$, '22023', null,
  'a key without the business number is refused');
select throws_ok($$ select wapipe.start_handoff(wapipe_tests.conv('250700000001'), ' ', null, 10) $$, '22023', null,
  'an empty started_by is refused');
select throws_ok($$ select wapipe.start_handoff(wapipe_tests.conv('250700000001'), 'operator', null, 0) $$, '22023', null,
  'zero minutes is refused');
select throws_ok($$ select wapipe.start_handoff(wapipe_tests.conv('250700000001'), 'operator', null, 20000) $$, '22023', null,
  'more than handoff.max_minutes is refused');
select * from finish();
rollback;
