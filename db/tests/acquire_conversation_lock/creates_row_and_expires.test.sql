-- A conversation lock creates a missing conversation row; an expired one is taken over; keys are checked.
begin;
select plan(7);
select wapipe_tests.reset();
select ok(wapipe.acquire_conversation_lock('300100200300400:250700000009', 'flow-1', 60), 'lock on a new conversation');
select row_eq($$ select phone_number_id, wa_id, head_message_id, locked_by from wapipe.conversations $$,
  row('300100200300400'::text, '250700000009'::text, null::bigint, 'flow-1'::text), 'the row was created');
select wapipe_tests.expire_lease('300100200300400:250700000009');
select ok(wapipe.acquire_conversation_lock('300100200300400:250700000009', 'flow-2', 60), 'an expired lock is taken over');
select ok(not wapipe.release_conversation_lock('300100200300400:250700000009', 'flow-1'), 'the old holder cannot release it');
select throws_ok($$ select wapipe.acquire_conversation_lock('250700000009', 'flow-1') $$, '22023', NULL,
  'a key without phone_number_id is refused');
select throws_ok($$ select wapipe.acquire_conversation_lock('a:b:c', 'flow-1') $$, '22023', NULL,
  'a key with two colons is refused');
select throws_ok($$ select wapipe.acquire_conversation_lock('1:2', 'flow-1', 0) $$, '22023', NULL, 'ttl 0 is refused');
select * from finish();
rollback;
