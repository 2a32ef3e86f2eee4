-- dead_letter_summary groups by error code (else last_error's first line) and message type.
begin;
select plan(1);
select wapipe_tests.reset();

insert into wapipe.dead_letters
  (message_id, wamid, conversation_key, message_type, last_error, error_code, attempts, dead_at, replayed_at)
values
  (1, 'w1', 'c', 'text', 'agent timeout', 'timeout', 3, now() - interval '3 hours', null),
  (2, 'w2', 'c', 'text', 'agent timeout again', 'timeout', 3, now() - interval '1 hour', now()),
  (3, 'w3', 'c', 'image', 'agent timeout', 'timeout', 3, now() - interval '2 hours', null),
  (4, 'w4', 'c', 'text', E'HTTP 500\nTraceback ...', null, 3, now() - interval '30 minutes', null),
  (5, 'w5', 'c', 'text', E'HTTP 500\nother trace', null, 1, now() - interval '10 minutes', null);

select results_eq(
  $$ select error, message_type, dead_letters, pending, replayed, oldest, newest
       from wapipe.dead_letter_summary order by error, message_type $$,
  $$ values ('HTTP 500'::text, 'text'::text, 2::bigint, 2::bigint, 0::bigint,
             now() - interval '30 minutes', now() - interval '10 minutes'),
            ('timeout', 'image', 1, 1, 0, now() - interval '2 hours', now() - interval '2 hours'),
            ('timeout', 'text', 2, 1, 1, now() - interval '3 hours', now() - interval '1 hour') $$,
  'counts, pending and age per error and type');

select * from finish();
rollback;
