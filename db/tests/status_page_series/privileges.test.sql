-- status_page_series: SECURITY DEFINER with an empty search_path; the monitor role may execute it, ingress, worker and PUBLIC may not.
begin;
select plan(7);
select is_definer('wapipe', 'status_page_series', array['integer'], 'runs as its owner');
select is((select proconfig from pg_proc where oid = 'wapipe.status_page_series(integer)'::regprocedure),
  array['search_path=""'], 'with an empty search_path');
select function_privs_are('wapipe', 'status_page_series', array['integer'], 'wapipe_monitor',
  array['EXECUTE'], 'wapipe_monitor may execute status_page_series');
select function_privs_are('wapipe', 'status_page_series', array['integer'], 'wapipe_ingress',
  array[]::text[], 'wapipe_ingress may not');
select function_privs_are('wapipe', 'status_page_series', array['integer'], 'public',
  array[]::text[], 'PUBLIC may not');
set local role wapipe_monitor;
select lives_ok($$ select * from wapipe.status_page_series(5) $$, 'the monitor role gets the series');
reset role;
set local role wapipe_worker;
select throws_ok($$ select * from wapipe.status_page_series(5) $$, '42501', null,
  'the worker role is refused');
reset role;
select * from finish();
rollback;
