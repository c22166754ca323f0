# Publishes one job request the way current Archelon does: a fresh connection, the request
# with PlastronStatusURL and persistent: true, and a disconnect at once.
# Usage: ruby archelon_status_job.rb HOST PORT DESTINATION BODY_FILE HEADER=VALUE...
require 'stomp'

host, port, destination, body_file, *pairs = ARGV
headers = { 'persistent' => 'true' }
pairs.each do |pair|
  name, value = pair.split('=', 2)
  headers[name] = value
end
client = Stomp::Client.new(
  hosts: [{ host: host, port: port.to_i }],
  connect_headers: { 'accept-version' => '1.2', 'host' => 'localhost', 'heart-beat' => '0,0' },
  max_reconnect_attempts: 1
)
client.publish(destination, File.binread(body_file).force_encoding('UTF-8'), headers)
client.close
