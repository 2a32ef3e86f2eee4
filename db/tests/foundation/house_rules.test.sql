-- Every wapipe function and table follows the security rules of ARCHITECTURE.md.
-- The one exception (db/README.md): a pure helper PostgreSQL can inline into the
-- statements that use it: _-prefixed, LANGUAGE sql with a standard body (RETURN ...,
-- bound at CREATE time, so no search_path applies), IMMUTABLE or STABLE, no SET, and
-- depending on no table, view, sequence or wapipe function (so it reads none); granted
-- to nobody (below).
begin;
select plan(7);

create temp view inlined_helpers as
select p.oid from pg_proc p
where p.pronamespace = 'wapipe'::regnamespace and p.proname like '\_%'
  and p.prolang = (select l.oid from pg_language l where l.lanname = 'sql') and p.prosqlbody is not null
  and p.provolatile in ('i', 's') and not p.prosecdef and p.proconfig is null
  and not exists (select 1 from pg_depend d
                  where d.classid = 'pg_proc'::regclass and d.objid = p.oid
                    and (d.refclassid = 'pg_class'::regclass
                         or (d.refclassid = 'pg_proc'::regclass
                             and d.refobjid in (select f.oid from pg_proc f
                                                where f.pronamespace = 'wapipe'::regnamespace))));

select is_empty($$
  select p.oid::regprocedure::text from pg_proc p
  where p.pronamespace = 'wapipe'::regnamespace and not p.prosecdef
    and p.oid not in (select oid from inlined_helpers) $$,
  'every wapipe function is SECURITY DEFINER (but the inlined pure helpers)');
select is_empty($$
  select p.oid::regprocedure::text from pg_proc p
  where p.pronamespace = 'wapipe'::regnamespace
    and not coalesce(p.proconfig @> array['search_path=""'], false)
    and p.oid not in (select oid from inlined_helpers) $$,
  'every wapipe function runs with an empty search_path (but the inlined pure helpers)');
select is_empty($$
  select p.oid::regprocedure::text from pg_proc p
  where p.pronamespace = 'wapipe'::regnamespace and not p.prosecdef and p.proname not like '\_%' $$,
  'no public wapipe function is SECURITY INVOKER');
select is_empty($$
  select p.oid::regprocedure::text from pg_proc p
  where p.pronamespace = 'wapipe'::regnamespace and obj_description(p.oid, 'pg_proc') is null $$,
  'every wapipe function has a COMMENT');
select is_empty($$
  select p.oid::regprocedure::text from pg_proc p
  where p.pronamespace = 'wapipe'::regnamespace and has_function_privilege('public', p.oid, 'EXECUTE') $$,
  'PUBLIC may execute no wapipe function');
select is_empty($$
  select p.oid::regprocedure::text || ' -> ' || r.rolname from pg_proc p
  cross join pg_roles r
  where p.pronamespace = 'wapipe'::regnamespace and p.proname like '\_%'
    and r.rolname in ('wapipe_ingress', 'wapipe_worker', 'wapipe_monitor')
    and has_function_privilege(r.oid, p.oid, 'EXECUTE') $$,
  'private helpers (_name) are granted to no role');
select is_empty($$
  select c.oid::regclass::text from pg_class c
  where c.relnamespace = 'wapipe'::regnamespace and c.relkind = 'r' and not c.relrowsecurity $$,
  'row level security is enabled on every wapipe table');

select * from finish();
rollback;
