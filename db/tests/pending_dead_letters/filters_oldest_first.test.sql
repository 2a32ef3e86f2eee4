-- Filters (ids, error_code, error_like, message_type, since) combine; oldest first, at most max_count.
begin;
select plan(10);
select wapipe_tests.reset();
select wapipe_tests.enqueue_text('250700000001', 'a', 'wamid.a');
select wapipe_tests.fail_n_times(1, error => '131000: agent down', retryable => false);
select wapipe_tests.enqueue_type('250700000002', 'image');
select wapipe_tests.fail_n_times(1, error => 'Media too big', retryable => false);
select wapipe_tests.enqueue_text('250700000003', 'c', 'wamid.c');
select wapipe_tests.fail_n_times(1, error => 'timeout: agent slow', retryable => false);
update wapipe.dead_letters set dead_at = now() - interval '2 days' where wamid = 'wamid.c';
update wapipe.dead_letters set dead_at = now() - interval '1 hour' where wamid = 'wamid.a';

select results_eq($$ select wamid from wapipe.pending_dead_letters() where message_type = 'text' $$,
  $$ values ('wamid.c'), ('wamid.a') $$, 'no filter: every pending one, oldest first');
select results_eq($$ select wamid from wapipe.pending_dead_letters(error_code => '131000') $$,
  $$ values ('wamid.a') $$, 'error_code matches the parsed code');
select is((select count(*) from wapipe.pending_dead_letters(error_code => 'media')), 1::bigint,
  'without a parsed code: the start of the last error, any case');
select is_empty($$ select * from wapipe.pending_dead_letters(error_code => '1310') $$,
  'with a parsed code: only the whole code');
select is_empty($$ select * from wapipe.pending_dead_letters(error_code => 'agent') $$,
  'error_code is not a search inside the error');
select results_eq($$ select wamid from wapipe.pending_dead_letters(error_like => '%AGENT%') $$,
  $$ values ('wamid.c'), ('wamid.a') $$, 'error_like: a case-insensitive pattern');
select is((select message_type from wapipe.pending_dead_letters(message_type => 'image')), 'image',
  'message_type');
select results_eq($$ select wamid from wapipe.pending_dead_letters(since => now() - interval '1 day',
                                                                  error_like => '%agent%') $$,
  $$ values ('wamid.a') $$, 'filters combine');
select results_eq($$ select wamid from wapipe.pending_dead_letters(error_like => '%agent%', max_count => 1) $$,
  $$ values ('wamid.c') $$, 'max_count keeps the oldest');
select results_eq($$ select wamid from wapipe.pending_dead_letters(
                     ids => array(select id from wapipe.dead_letters where wamid in ('wamid.a', 'wamid.c')),
                     error_code => 'timeout') $$,
  $$ values ('wamid.c') $$, 'ids and filters together');
select * from finish();
rollback;
