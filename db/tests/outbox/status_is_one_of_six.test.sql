-- outbox.status is pending, sending, sent, failed, dry_run or window_closed (its CHECK, one
-- array constant since 0030); anything else is refused with check_violation.
begin;
select plan(3);
select wapipe_tests.reset();

select lives_ok($$ insert into wapipe.outbox (source_key, phone_number_id, to_wa_id, body, status)
                   select 'k' || s, '1', '250700000001', '{}', s
                   from unnest(array['pending', 'sending', 'sent', 'failed', 'dry_run', 'window_closed']) s $$,
  'each of the six');
select throws_ok($$ insert into wapipe.outbox (source_key, phone_number_id, to_wa_id, body, status)
                    values ('k.lost', '1', '250700000001', '{}', 'lost') $$,
  '23514', null, 'another status on insert');
select throws_ok($$ update wapipe.outbox set status = 'delivered' where source_key = 'kpending' $$,
  '23514', null, 'and on update');

select * from finish();
rollback;
