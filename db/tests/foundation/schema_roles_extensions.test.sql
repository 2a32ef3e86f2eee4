-- The foundation: schema, group roles, extensions and the inbound queue exist.
begin;
select plan(11);
select has_schema('wapipe', 'schema wapipe exists');
select has_extension('pg_cron', 'pg_cron is installed');
select has_extension('pgtap', 'pgTAP is installed (test database only)');
select has_schema('pgmq', 'pgmq is installed');
select has_role('wapipe_ingress', 'role wapipe_ingress exists');
select has_role('wapipe_worker', 'role wapipe_worker exists');
select has_role('wapipe_monitor', 'role wapipe_monitor exists');
select is(
  (select count(*)::int from pg_roles
    where rolname in ('wapipe_ingress', 'wapipe_worker', 'wapipe_monitor') and not rolcanlogin),
  3, 'the wapipe roles are NOLOGIN group roles');
select ok(
  exists (select 1 from pgmq.list_queues() where queue_name = 'wapipe_inbound'),
  'the inbound pgmq queue exists');
select ok(
  not has_schema_privilege('public', 'wapipe', 'USAGE'),
  'PUBLIC has no usage on schema wapipe');
select has_schema('wapipe_tests', 'the test helper schema is installed in the test database');
select * from finish();
rollback;
