-- status_page_series on an empty database: one zero row per minute, ending with the current minute; minutes is clamped to 1-1440.
begin;
select plan(5);
select wapipe_tests.reset();
select is((select count(*) from wapipe.status_page_series()), 60::bigint, 'sixty minutes by default');
select is((select max(minute) from wapipe.status_page_series()), date_trunc('minute', now()),
  'the last row is the current minute');
select is_empty($$ select * from wapipe.status_page_series()
                   where messages_in + messages_out + dead_letters + failed_attempts + queue_depth <> 0
                      or p95_ms is not null $$,
  'nothing happened: zeros, and no p95');
select is((select count(*) from wapipe.status_page_series(0)), 1::bigint, 'at least one minute');
select is((select count(*) from wapipe.status_page_series(100000)), 1440::bigint, 'at most a day');
select * from finish();
rollback;
