# Sends jobs to plastrond the way Archelon does, with Ruby's stomp gem, and prints what comes
# back as JSON lines. Usage: ruby archelon_jobs.rb HOST PORT JOBS SYNC_JOBS STATUS
require 'json'
require 'stomp'
require 'timeout'

host, port, jobs, sync_jobs, status = ARGV
client = Stomp::Client.new(
  hosts: [{ host: host, port: port.to_i }],
  connect_headers: { 'accept-version' => '1.2', 'host' => 'localhost', 'heart-beat' => '0,0' },
  max_reconnect_attempts: 1
)
answers = Queue.new
reply_queue = "/temp-queue/archelon-ruby-#{Process.pid}"
client.subscribe(reply_queue) { |message| answers << ['reply', message.headers, message.body] }
client.subscribe(status) { |message| answers << ['status', message.headers, message.body] }

def show(answers)
  kind, headers, body = Timeout.timeout(30) { answers.pop }
  puts JSON.generate('kind' => kind, 'headers' => headers, 'body' => body.force_encoding('UTF-8'))
  $stdout.flush
end

# A metadata edit is a synchronous job answered on a temporary queue.
client.publish(sync_jobs, 'ruby says hello',
               'PlastronCommand' => 'echo', 'PlastronJobId' => 'SYNCHRONOUS-ruby-1',
               'reply-to' => reply_queue, 'persistent' => 'true')
show(answers)
# An import or export is asynchronous: its completion arrives on the status queue.
client.publish(jobs, 'ruby async ünïcode',
               'PlastronCommand' => 'echo', 'PlastronJobId' => 'http://archelon.example/ruby/2',
               'PlastronArg-echo-delay' => '0.1', 'persistent' => 'true')
show(answers)
client.close
