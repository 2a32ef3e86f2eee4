-- Statuses arriving out of order never move a message's status backwards.
begin;
select plan(5);
select wapipe_tests.reset();

-- status_read and status_delivered are for the same outbound wamid
select is((wapipe_tests.sample('status_read') #>> '{entry,0,changes,0,value,statuses,0,id}'),
          (wapipe_tests.sample('status_delivered') #>> '{entry,0,changes,0,value,statuses,0,id}'),
          'the read and delivered samples are about one message');
select wapipe.ingest_webhook(wapipe_tests.sample('status_read'), 'r');
select wapipe.ingest_webhook(wapipe_tests.sample('status_delivered'), 'd');
select is((select status from wapipe.message_statuses
           where wamid = wapipe_tests.sample('status_read') #>> '{entry,0,changes,0,value,statuses,0,id}'),
          'read', 'delivered after read stays read');
select wapipe.ingest_webhook(wapipe_tests.sample('status_sent'), 's');
select is((select status from wapipe.message_statuses
           where wamid = wapipe_tests.sample('status_sent') #>> '{entry,0,changes,0,value,statuses,0,id}'),
          'read', 'sent after read stays read');

-- forwards still works: sent -> failed carries the error
select wapipe.ingest_webhook(wapipe_tests.sample('status_failed'), 'f');
select is((select status from wapipe.message_statuses
           where wamid = wapipe_tests.sample('status_failed') #>> '{entry,0,changes,0,value,statuses,0,id}'),
          'failed', 'a failed status is recorded');
select is((select errors #>> '{0,code}' from wapipe.message_statuses
           where wamid = wapipe_tests.sample('status_failed') #>> '{entry,0,changes,0,value,statuses,0,id}'),
          '131047', 'with its error code');

select * from finish();
rollback;
