-- Every sample webhook is accepted with the counts its content implies.
begin;
select plan(15);
select wapipe_tests.reset();

create temp table expected(name text primary key, new_messages int, statuses int, errors int);
insert into expected values
  ('text', 1, 0, 0), ('image', 1, 0, 0), ('interactive_button_reply', 1, 0, 0),
  ('interactive_list_reply', 1, 0, 0), ('location', 1, 0, 0), ('reaction', 1, 0, 0),
  ('button', 1, 0, 0), ('order', 1, 0, 0), ('unsupported', 1, 0, 0),
  ('batch_two_users', 3, 1, 0), ('status_sent', 0, 1, 0), ('status_delivered', 0, 1, 0),
  ('status_read', 0, 1, 0), ('status_failed', 0, 1, 0), ('value_errors', 0, 0, 1);

select results_eq(
  format($$ select r.new_messages, r.duplicates, r.statuses, r.errors
            from wapipe.ingest_webhook(wapipe_tests.sample(%L), 'cid-%s') r $$, e.name, e.name),
  format($$ values (%s, 0, %s, %s) $$, e.new_messages, e.statuses, e.errors),
  format('sample %s: %s new, %s statuses, %s errors', e.name, e.new_messages, e.statuses, e.errors))
from expected e order by e.name;

select * from finish();
rollback;
