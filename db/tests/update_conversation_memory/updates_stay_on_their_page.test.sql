-- Appending to a memory session changes no indexed column: the new row version stays on its
-- page (a HOT update, no new index entries), whether update_conversation_memory or a worker's
-- completion appends.
begin;
select plan(3);
select wapipe_tests.reset();
create temp table mem on commit drop as
select (wapipe.get_or_create_conversation_memory('250700000001', 'demo')).id;
create temp table counts (at text, updated bigint, hot bigint) on commit drop;
create function pg_temp.count_updates(label text) returns void language sql as $$
  insert into counts
  select label, pg_stat_get_xact_tuples_updated('wapipe.ai_conversation_memory'::regclass),
         pg_stat_get_xact_tuples_hot_updated('wapipe.ai_conversation_memory'::regclass) $$;

-- last active a minute ago: the append moves last_activity_at, as it does between two messages
update wapipe.ai_conversation_memory set last_activity_at = now() - interval '1 minute';
select pg_temp.count_updates('before');
select wapipe.update_conversation_memory((select id from mem), 'user', 'hello', '{"lang": "en"}');
select pg_temp.count_updates('update_conversation_memory');
select results_eq($$ select c.updated - b.updated, c.hot - b.hot from counts c, counts b
                     where c.at = 'update_conversation_memory' and b.at = 'before' $$,
  $$ values (1::bigint, 1::bigint) $$, 'update_conversation_memory: one update, and it is HOT');

select wapipe_tests.enqueue_text('250700000001', 'more', 'wamid.hot.1');
update wapipe.ai_conversation_memory set last_activity_at = now() - interval '1 minute';
select pg_temp.count_updates('before completion');
create temp table r on commit drop as
select * from wapipe.complete_messages('worker-1', jsonb_build_array(jsonb_build_object(
  'msg_id', (select q from wapipe_tests.claim('worker-1') q),
  'memory', jsonb_build_object('memory_id', (select id from mem),
              'append', '[{"role":"user","content":"more"},{"role":"assistant","content":"ok"}]'::jsonb))));
select pg_temp.count_updates('complete_messages');
select results_eq($$ select r.outcome, c.updated - b.updated, c.hot - b.hot
                     from r, counts c, counts b
                     where c.at = 'complete_messages' and b.at = 'before completion' $$,
  $$ values ('done', 1::bigint, 1::bigint) $$, 'a completion''s memory append: one update, and it is HOT');
select is((select jsonb_array_length(messages) from wapipe.ai_conversation_memory), 3,
  'all three entries kept');
select * from finish();
rollback;
