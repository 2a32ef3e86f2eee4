-- Bad arguments are refused with 22023.
begin;
select plan(5);
select throws_ok($$ select * from wapipe.get_next_queue_message('', 30, 10) $$, '22023',
  'worker_id must be a non-empty text', 'empty worker_id');
select throws_ok($$ select * from wapipe.get_next_queue_message(NULL, 30, 10) $$, '22023', NULL, 'NULL worker_id');
select throws_ok($$ select * from wapipe.get_next_queue_message('w', 0, 10) $$, '22023', NULL, 'lock_seconds 0');
select throws_ok($$ select * from wapipe.get_next_queue_message('w', 3601, 10) $$, '22023', NULL, 'lock_seconds over an hour');
select throws_ok($$ select * from wapipe.get_next_queue_message('w', 30, 1001) $$, '22023', NULL, 'batch over 1000');
select * from finish();
rollback;
