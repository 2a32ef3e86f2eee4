-- acquire_message_lock is false for a message another worker holds, a non-head, a finished or unknown one.
begin;
select plan(6);
select wapipe_tests.reset();
create temp table m on commit drop as
select wapipe_tests.enqueue_text('250700000001', 'one', wa_timestamp => 1764000001) as first,
       wapipe_tests.enqueue_text('250700000001', 'two', wa_timestamp => 1764000002) as second;
select wapipe_tests.claim('worker-1');
select ok(not wapipe.acquire_message_lock(wapipe_tests.msg_id_of((select first from m)), 'worker-2'),
  'false while another worker holds it');
select ok(not wapipe.acquire_message_lock(wapipe_tests.msg_id_of((select second from m)), 'worker-2'),
  'false for a message that is not the head');
select ok(not wapipe.acquire_message_lock(999999, 'worker-2'), 'false for an unknown msg_id');
select wapipe.complete_message(wapipe_tests.msg_id_of((select first from m)), 'worker-1');
select ok(not wapipe.acquire_message_lock(wapipe_tests.msg_id_of((select first from m)), 'worker-1'),
  'false for a finished message');
select wapipe_tests.fail_n_times(1);
select ok(not wapipe.acquire_message_lock(wapipe_tests.msg_id_of((select second from m)), 'worker-2'),
  'false while the message is in backoff');
select is((select attempts from wapipe.processed_messages where id = (select second from m)), 1,
  'a refusal changes nothing');
select * from finish();
rollback;
