-- wapipe._one_message_post picks the usual POST (one entry, one messages change, one
-- message with an id, a sender and a business number) for the plain-expression path, and
-- nothing else; it is inlined (a jsonpath constant, no call per transaction).
begin;
select plan(9);

select unalike(wapipe_tests.plan_of($$ select wapipe._one_message_post(jsonb_build_object('n', g))
                                  from generate_series(1, 2) g $$),
  '%_one_message_post%', '_one_message_post is inlined');
select ok(bool_and(wapipe._one_message_post(wapipe_tests.sample(s))),
  'the one-message samples: phone, BSUID, username only, media, interactive, reaction')
from unnest(array['text', 'text_phone_and_user_id', 'text_username_only', 'image', 'button',
                  'interactive_button_reply', 'location', 'reaction', 'unsupported']) s;
select ok(not bool_or(wapipe._one_message_post(wapipe_tests.sample(s))),
  'statuses, value errors, two users, an echo: not this path')
from unnest(array['status_read', 'status_failed', 'value_errors', 'batch_two_users',
                  'smb_message_echo']) s;
select ok(not wapipe._one_message_post(jsonb_set(wapipe_tests.sample('text'), '{entry,1}',
                                                 wapipe_tests.sample('text') #> '{entry,0}')),
  'two entries');
select ok(not wapipe._one_message_post(wapipe_tests.sample('text') #- '{entry,0,changes,0,value,messages,0,from}'),
  'no sender');
select ok(wapipe._one_message_post(jsonb_set(wapipe_tests.sample('text') #- '{entry,0,changes,0,value,messages,0,from}',
                                             '{entry,0,changes,0,value,messages,0,group_id}', '"G1"')),
  'a group message has its group as sender');
select ok(not wapipe._one_message_post(jsonb_set(wapipe_tests.sample('text'),
                                                 '{entry,0,changes,0,value,metadata,phone_number_id}', '123')),
  'a business number that is not a string: the walk reads it');
select ok(not wapipe._one_message_post(jsonb_set(wapipe_tests.sample('text'),
                                                 '{entry,0,changes,0,value,messages,0,id}', '""')),
  'an empty id');
select ok(not wapipe._one_message_post(jsonb_set(wapipe_tests.sample('text'),
                                                 '{entry,0,changes,0,field}', '"calls"')),
  'another field');
select * from finish();
rollback;
