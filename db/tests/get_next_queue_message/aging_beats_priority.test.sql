-- A long-waiting low-priority head beats a fresh high-priority one (no starvation).
begin;
select plan(2);
select wapipe_tests.reset();
-- reaction (1) vs interactive (8): 7 levels x 30 s = 210 s of aging
create temp table ids on commit drop as
select wapipe_tests.enqueue_type('250700000001', 'reaction') as old_low,
       wapipe_tests.enqueue_type('250700000002', 'interactive') as fresh_high;
select wapipe_tests.age_message(old_low, '200 seconds') from ids;
select is((select q.message_id from wapipe.get_next_queue_message('worker-1', 30, 1) q),
  (select fresh_high from ids), 'after 200 s the high priority still goes first');
select wapipe_tests.reset();
truncate ids;
insert into ids select wapipe_tests.enqueue_type('250700000001', 'reaction'),
                       wapipe_tests.enqueue_type('250700000002', 'interactive');
select wapipe_tests.age_message(old_low, '220 seconds') from ids;
select is((select q.message_id from wapipe.get_next_queue_message('worker-1', 30, 1) q),
  (select old_low from ids), 'after 220 s the old low-priority head goes first');
select * from finish();
rollback;
