-- Pending: not replayed, its message still dead, and only the latest such dead letter of its message.
begin;
select plan(5);
select wapipe_tests.reset();
select wapipe_tests.enqueue_text('250700000001', 'a', 'wamid.a');
select wapipe_tests.fail_n_times(1, error => 'agent down', retryable => false);
select wapipe_tests.enqueue_text('250700000002', 'b', 'wamid.b');
select wapipe_tests.fail_n_times(1, error => 'agent down', retryable => false);
select wapipe_tests.enqueue_text('250700000003', 'c', 'wamid.c');
select wapipe_tests.fail_n_times(1, error => 'agent down', retryable => false);
select wapipe_tests.enqueue_text('250700000004', 'd', 'wamid.d');
select wapipe_tests.fail_n_times(1, error => 'agent down', retryable => false);
-- b: replayed; c: its message was served again by other means; d: a second dead letter, later
select count(*) from wapipe.requeue_dead_letters(ids => array[(select id from wapipe.dead_letters where wamid = 'wamid.b')]);
update wapipe.processed_messages set status = 'done' where wamid = 'wamid.c';
insert into wapipe.dead_letters (message_id, wamid, conversation_key, message_type, queue_msg_id,
                                 last_error, error_code, error_history, attempts, correlation_id, dead_at)
select message_id, wamid, conversation_key, message_type, queue_msg_id,
       'timeout: again', 'timeout', error_history, attempts, correlation_id, dead_at + interval '1 minute'
from wapipe.dead_letters where wamid = 'wamid.d';

select bag_eq($$ select wamid, error_code from wapipe.pending_dead_letters() $$,
  $$ values ('wamid.a', null), ('wamid.d', 'timeout') $$,
  'a, and only the latest of d');
select is_empty($$ select * from wapipe.pending_dead_letters() where wamid = 'wamid.b' $$,
  'a replayed dead letter is not pending');
select is_empty($$ select * from wapipe.pending_dead_letters() where wamid = 'wamid.c' $$,
  'nor one whose message is no longer dead');
select is_empty($$ select * from wapipe.pending_dead_letters(ids => array(
                     select id from wapipe.dead_letters where wamid = 'wamid.d' and error_code is null)) $$,
  'an older dead letter of a message is superseded, even when named by id');
select is_empty($$ select * from wapipe.requeue_dead_letters(ids => array(
                     select id from wapipe.dead_letters where wamid in ('wamid.b', 'wamid.c')
                     or (wamid = 'wamid.d' and error_code is null)), dry_run => true) $$,
  'requeue_dead_letters replays only what is pending');
select * from finish();
rollback;
