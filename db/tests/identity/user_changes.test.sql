-- wapipe._user_changes (inlined): a message tells something new about a known user when it
-- carries an identifier or name the user's row does not hold; an absent one changes nothing.
-- And what follows from it in the ingest: a row written only then, and one reading otherwise.
begin;
select plan(11);
select wapipe_tests.reset();

select unalike(wapipe_tests.plan_of($$ select wapipe._user_changes(g::text, null, null, null, null,
                                         'x', null, null, null, null) from generate_series(1, 2) g $$),
  '%_user_changes%', '_user_changes is inlined');
select unalike(wapipe_tests.plan_of($$ select wapipe._user_has_row(g::text, null, null)
                                  from generate_series(1, 2) g $$),
  '%_user_has_row%', '_user_has_row is inlined');
select is(array[wapipe._user_has_row(null, null, null), wapipe._user_has_row(null, 'RW.P', null),
                wapipe._user_has_row(null, null, '@a')],
  array[false, true, true], 'a row for a BSUID, parent BSUID or username user; none by phone alone');
select is(wapipe._user_changes('RW.1', null, null, null, null, 'RW.1', null, '250700000001', '@a', 'A'),
  false, 'the same BSUID, nothing else said: no change');
select is(wapipe._user_changes(null, null, null, null, null, 'RW.1', 'RW.P', '250700000001', '@a', 'A'),
  false, 'nothing said: no change (an absent value never erases one)');
select is(wapipe._user_changes(null, null, null, '@b', null, 'RW.1', null, null, '@a', null),
  true, 'a new username: a change');
select is(wapipe._user_changes(null, null, '250700000002', null, null, null, null, null, null, null),
  true, 'a phone where none was known: a change');
select is(wapipe._user_changes(null, 'RW.P', null, null, 'B', null, 'RW.P', null, null, 'A'),
  true, 'a new profile name: a change');

-- in the ingest: a known BSUID user writing again with the same identifiers leaves the row
-- as it was; a new name updates it
select wapipe.ingest_webhook(wapipe_tests.user_payload(null, 'RW.9', 'hi', 'wamid.uc.1', null, '@nine', '111'), 'a');
select is((select updated_at from wapipe.users where user_key = 'RW.9'),
          (select first_seen_at from wapipe.users where user_key = 'RW.9'), 'the user''s row, as created');
update wapipe.users set updated_at = updated_at - interval '1 hour', first_seen_at = first_seen_at - interval '1 hour'
where user_key = 'RW.9';
select wapipe.ingest_webhook(wapipe_tests.user_payload(null, 'RW.9', 'again', 'wamid.uc.2', null, '@nine', '111'), 'b');
select ok((select updated_at < now() - interval '59 minutes' from wapipe.users where user_key = 'RW.9'),
  'the same identifiers again: the row is not written');
select wapipe.ingest_webhook(wapipe_tests.user_payload(null, 'RW.9', 'and again', 'wamid.uc.3', null, '@nine9', '111'), 'c');
select is((select username from wapipe.users where user_key = 'RW.9'), '@nine9',
  'a new username: the row is brought up to date');
select * from finish();
rollback;
