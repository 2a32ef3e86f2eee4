-- Releasing a conversation reads its finished head by primary key, never by walking
-- processed_messages_finished_idx: with statistics taken while nothing was finished that
-- index looks empty, and a plan that walked it read every finished message per completion.
begin;
select plan(4);
select wapipe_tests.reset();
create temp table c on commit drop as select wapipe_tests.claim_after_finished_backlog() as msg_id;
select is((select count(*) from c where msg_id is not null), 1::bigint, 'the conversation''s head is claimed');

create temp table scans_before on commit drop as
select pg_stat_get_xact_numscans('wapipe.processed_messages_finished_idx'::regclass) AS n;
select is((select outcome from wapipe.complete_messages('worker-1',
            (select jsonb_agg(jsonb_build_object('msg_id', msg_id)) from c))), 'done', 'completed');
select is(pg_stat_get_xact_numscans('wapipe.processed_messages_finished_idx'::regclass) - (select n from scans_before),
          0::bigint, 'the release did not scan the index of finished messages');
select is((select m.wamid from wapipe.conversations k join wapipe.processed_messages m on m.id = k.head_message_id
           where k.conversation_key = wapipe_tests.conv('250799999999')), 'wamid.b',
          'the next message is the head');
select * from finish();
rollback;
