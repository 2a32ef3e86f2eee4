-- A retention or premake setting that is not a positive number is refused (22023), naming the key.
begin;
select plan(2);
update wapipe.settings set value = '0' where key = 'retention.service_calls_days';
select throws_like($$ select wapipe.maintain_partitions() $$, '%retention.service_calls_days%',
  'a zero retention is refused');
update wapipe.settings set value = '7' where key = 'retention.service_calls_days';
update wapipe.settings set value = '0' where key = 'retention.premake_days';
select throws_ok($$ select wapipe.maintain_partitions() $$, '22023', null, 'no days made ahead is refused');
select * from finish();
rollback;
