-- system_health's thresholds come from one private step, _health_thresholds: the built-in
-- defaults, overridden by health.* settings rows, overridden by the argument; bad arguments
-- raise 22023 there, before anything is counted.
begin;
select plan(7);
select wapipe_tests.reset();

select is((wapipe._health_thresholds('{}') ->> 'queue_depth_critical')::numeric,
  (select value::numeric from wapipe.settings where key = 'health.queue_depth_critical'),
  'a settings row gives the threshold');
delete from wapipe.settings where key = 'health.queue_depth_critical';
select is((wapipe._health_thresholds(null) ->> 'queue_depth_critical')::numeric, 10000::numeric,
  'with the row deleted by hand, the built-in default (and NULL means no override)');
update wapipe.settings set value = '7' where key = 'health.retrying_degraded';
select is((wapipe._health_thresholds('{"retrying_degraded": "3"}') ->> 'retrying_degraded')::numeric, 3::numeric,
  'the argument overrides the settings row (a numeric string is a number)');
select is((wapipe._health_thresholds('{}') ->> 'retrying_degraded')::numeric, 7::numeric,
  'without it, the settings row');
select throws_ok($$ select wapipe._health_thresholds('[1]') $$, '22023',
  'thresholds must be a JSON object, got array', 'not an object');
select throws_ok($$ select wapipe._health_thresholds('{"queue_depht_critical": 1}') $$, '22023',
  'unknown health threshold "queue_depht_critical"', 'a typo is refused');
select throws_ok($$ select wapipe._health_thresholds('{"queue_depth_critical": -1}') $$, '22023',
  'health threshold "queue_depth_critical" must be a non-negative number, got -1', 'a negative number is refused');

select * from finish();
rollback;
