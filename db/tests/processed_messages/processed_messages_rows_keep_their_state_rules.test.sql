-- processed_messages' one CHECK (processed_messages_state_valid, 0030): a status among the four,
-- processed_at set exactly when the message is finished, priority 0..9; each broken rule
-- is refused with check_violation, on INSERT and on UPDATE.
begin;
select plan(7);
select wapipe_tests.reset();

create function pg_temp.row_with(status text, processed_at timestamptz, priority int) returns void
language sql as $$
  insert into wapipe.processed_messages (wamid, conversation_key, phone_number_id, from_wa_id,
    message_type, payload, wa_timestamp, priority, status, processed_at)
  values ('wamid.state.' || md5(random()::text), 'x:1', 'x', '1', 'text', '{}', now(), priority, status, processed_at)
$$;

select lives_ok($$ select pg_temp.row_with('queued', null, 0) $$, 'queued, not finished, priority 0');
select lives_ok($$ select pg_temp.row_with('dead', now(), 9) $$, 'dead, finished, priority 9');
select throws_ok($$ select pg_temp.row_with('lost', null, 0) $$, '23514', null, 'an unknown status');
select throws_ok($$ select pg_temp.row_with('done', null, 0) $$, '23514', null, 'done without processed_at');
select throws_ok($$ select pg_temp.row_with('processing', now(), 0) $$, '23514', null, 'processing with processed_at');
select throws_ok($$ select pg_temp.row_with('queued', null, 10) $$, '23514', null, 'priority above 9');
select throws_ok($$ update wapipe.processed_messages set status = 'done' where status = 'queued' $$,
  '23514', null, 'an UPDATE that finishes without processed_at');

select * from finish();
rollback;
