-- Bad arguments are refused with 22023; only wapipe_worker may call breaker_record_successes.
begin;
select plan(5);
select throws_ok($$ select wapipe.breaker_record_successes('', array[1]) $$, '22023',
  'breaker name must not be empty', 'an empty name');
select throws_ok($$ select wapipe.breaker_record_successes('b', array[1, -1]) $$, '22023',
  'duration_ms must be >= 0 (got -1)', 'a negative duration');
select function_privs_are('wapipe', 'breaker_record_successes', array['text', 'integer[]', 'text'],
  'wapipe_worker', array['EXECUTE'], 'wapipe_worker may execute breaker_record_successes');
select function_privs_are('wapipe', 'breaker_record_successes', array['text', 'integer[]', 'text'],
  'wapipe_ingress', array[]::text[], 'wapipe_ingress may not');
select function_privs_are('wapipe', 'breaker_record_successes', array['text', 'integer[]', 'text'],
  'public', array[]::text[], 'PUBLIC may not');
select * from finish();
rollback;
