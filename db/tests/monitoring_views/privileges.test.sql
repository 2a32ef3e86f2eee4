-- Every view in schema wapipe (a new one is covered without editing this file):
-- wapipe_monitor may only SELECT it, the ingress and worker roles have no access,
-- and the monitor role reads the views but neither the tables behind them nor any function.
begin;
select plan((select count(*)::int * 4 from pg_views where schemaname = 'wapipe') + 3);

select ok((select count(*) from pg_views where schemaname = 'wapipe') >= 6,
  'the monitoring views exist');
select table_privs_are('wapipe', v.viewname, r.role, r.privs,
         format('%s: %s may %s', v.viewname, r.role,
                coalesce(nullif(array_to_string(r.privs, ', '), ''), 'nothing')))
from pg_views v
cross join (values ('wapipe_monitor', array['SELECT']), ('wapipe_worker', array[]::text[]),
                   ('wapipe_ingress', array[]::text[])) r(role, privs)
where v.schemaname = 'wapipe'
order by v.viewname, r.role;

set local role wapipe_monitor;
select lives_ok(format('select * from wapipe.%I', v.viewname),
                format('the monitor role reads %s', v.viewname))
from pg_views v where v.schemaname = 'wapipe' order by v.viewname;
select throws_ok($$ select wapipe.breaker_allow('x') $$, '42501', null,
  'the monitor role cannot call worker functions');
reset role;
select is_empty($$
  select c.relname from pg_class c
  where c.relnamespace = 'wapipe'::regnamespace and c.relkind = 'r'
    and has_table_privilege('wapipe_monitor', c.oid, 'SELECT') $$,
  'the monitor role cannot read any wapipe table directly');

select * from finish();
rollback;
