-- requeue_dead_letters refuses to replay everything by accident.
begin;
select plan(2);
select wapipe_tests.reset();
select throws_ok($$ select * from wapipe.requeue_dead_letters() $$, '22023',
  'choose dead letters: ids or a filter (error_like, message_type, since)', 'no ids and no filter: refused');
select throws_ok($$ select * from wapipe.requeue_dead_letters(error_like => '%', max_count => 0) $$, '22023', NULL,
  'max_count 0: refused');
select * from finish();
rollback;
