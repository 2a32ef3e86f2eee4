-- Taking a token from a known bucket changes no indexed column: the new row version stays on
-- its page (a HOT update, no new index entries); the daily cleanup still removes idle buckets.
begin;
select plan(3);
select wapipe_tests.reset();
select allowed from wapipe.check_rate_limit('user:250700000001', 5, '1 minute');
create temp table before on commit drop as
select pg_stat_get_xact_tuples_updated('wapipe.rate_limit_buckets'::regclass) as updated,
       pg_stat_get_xact_tuples_hot_updated('wapipe.rate_limit_buckets'::regclass) as hot;
select count(*) from wapipe_tests.rate_limit_calls('user:250700000001', 5, '1 minute', 3);
select results_eq($$ select pg_stat_get_xact_tuples_updated('wapipe.rate_limit_buckets'::regclass) - b.updated,
                            pg_stat_get_xact_tuples_hot_updated('wapipe.rate_limit_buckets'::regclass) - b.hot
                     from before b $$,
  $$ values (3::bigint, 3::bigint) $$, 'three tokens taken: three updates, all HOT');

update wapipe.rate_limit_buckets set updated_at = now() - interval '2 days'
where key = 'user:250700000001';
select allowed from wapipe.check_rate_limit('user:250700000002', 5, '1 minute');
select cmp_ok(wapipe.cleanup_old_messages(), '>=', 0, 'the cleanup runs');
select results_eq($$ select key from wapipe.rate_limit_buckets order by key $$,
  $$ values ('user:250700000002') $$, 'the idle bucket is gone, the fresh one stays');
select * from finish();
rollback;
