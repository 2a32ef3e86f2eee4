-- Every wapipe function and table follows the security rules of ARCHITECTURE.md.
begin;
select plan(6);

select is_empty($$
  select p.oid::regprocedure::text from pg_proc p
  where p.pronamespace = 'wapipe'::regnamespace and not p.prosecdef $$,
  'every wapipe function is SECURITY DEFINER');
select is_empty($$
  select p.oid::regprocedure::text from pg_proc p
  where p.pronamespace = 'wapipe'::regnamespace
    and not coalesce(p.proconfig @> array['search_path=""'], false) $$,
  'every wapipe function runs with an empty search_path');
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
