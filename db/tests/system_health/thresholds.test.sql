-- Thresholds: settings rows are the defaults, the argument overrides them; unknown or non-numeric keys raise 22023.
begin;
select plan(6);
select wapipe_tests.reset();
select wapipe.register_worker('w-live', 'host-a', 101);
select wapipe_tests.enqueue_text('250700000001', 'hi') as id \gset
select wapipe_tests.age_message(:id, '20 seconds');

select is((select status from wapipe.system_health()), 'ok', '20 s is under the default 60 s');
update wapipe.settings set value = '15' where key = 'health.oldest_age_degraded_seconds';
select is((select status from wapipe.system_health()), 'degraded', 'a changed settings row applies');
select is((select status from wapipe.system_health('{"oldest_age_degraded_seconds": 30}')), 'ok',
  'the argument overrides the setting');
select is((select status from wapipe.system_health('{"oldest_age_critical_seconds": "10"}')), 'critical',
  'numbers as strings are accepted (environment variables)');
select throws_ok($$ select * from wapipe.system_health('{"oldest_age_degarded_seconds": 30}') $$, '22023',
  'unknown health threshold "oldest_age_degarded_seconds"', 'a misspelt key raises 22023');
select throws_ok($$ select * from wapipe.system_health('{"queue_depth_degraded": "lots"}') $$, '22023',
  null, 'a non-numeric value raises 22023');
select * from finish();
rollback;
