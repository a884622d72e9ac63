// The status page served at `/`: one self-contained HTML document (inline CSS and JS, no external
// assets) that polls /status every second and renders streams, shards, consumer lag, deliveries
// and tailed files.
#include "agent/admin.h"

namespace sluice::agent {

std::string_view AdminEndpoint::StatusPage() {
  static constexpr std::string_view kPage = R"HTML(<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>sluice status</title>
<meta name="viewport" content="width=device-width,initial-scale=1">
<style>
body{font:14px/1.4 system-ui,sans-serif;margin:0;background:#f4f6f8;color:#1d2530}
header{background:#14314f;color:#fff;padding:12px 20px;display:flex;gap:24px;align-items:baseline}
header h1{font-size:20px;margin:0}header span{opacity:.85}
main{padding:16px 20px;display:grid;gap:16px}
section{background:#fff;border-radius:6px;box-shadow:0 1px 3px #0002;padding:12px 16px}
h2{font-size:16px;margin:0 0 8px;color:#14314f}
table{border-collapse:collapse;width:100%}th,td{text-align:left;padding:4px 8px;border-bottom:1px solid #e3e7eb}
th{font-weight:600;color:#4a5868}.n{text-align:right;font-variant-numeric:tabular-nums}
.ok{color:#17803d;font-weight:600}.bad{color:#b42318;font-weight:600}.warn{color:#b45309;font-weight:600}
.bar{display:inline-block;height:8px;background:#3b82f6;border-radius:2px;vertical-align:middle}
#err{color:#b42318}
</style></head><body>
<header><h1>sluice</h1><span id="meta">loading…</span><span id="err"></span></header>
<main>
<section><h2>Streams</h2><table id="streams"><thead><tr><th>stream</th><th>mode</th><th>encryption</th><th>shard</th><th>state</th><th class="n">records</th></tr></thead><tbody></tbody></table></section>
<section><h2>Consumer lag</h2><table id="consumers"><thead><tr><th>stream</th><th>consumer</th><th class="n">records behind</th><th class="n">iterator age</th></tr></thead><tbody></tbody></table></section>
<section><h2>Deliveries</h2><table id="deliveries"><thead><tr><th>delivery stream</th><th>sink</th><th>health</th><th class="n">records delivered</th><th class="n">records/s</th><th class="n">bytes delivered</th><th class="n">spilled</th><th class="n">freshness</th><th>last error</th></tr></thead><tbody></tbody></table></section>
<section><h2>Tailed files</h2><table id="files"><thead><tr><th>source</th><th>file</th><th class="n">offset</th><th class="n">size</th><th class="n">bytes behind</th></tr></thead><tbody></tbody></table></section>
</main>
<script>
"use strict";
var last = null;
function esc(s){return String(s).replace(/[&<>"]/g,function(c){return {"&":"&amp;","<":"&lt;",">":"&gt;","\"":"&quot;"}[c];});}
function num(n){return Number(n).toLocaleString("en-US");}
function bytes(n){var u=["B","KiB","MiB","GiB","TiB"],i=0;n=Number(n);while(n>=1024&&i<4){n/=1024;i++;}return (i?n.toFixed(1):n)+" "+u[i];}
function dur(ms){ms=Number(ms);if(ms<1000)return ms+" ms";if(ms<60000)return (ms/1000).toFixed(1)+" s";return (ms/60000).toFixed(1)+" min";}
function enc(x){return x.encryption==="KMS"?"KMS ("+esc(x.encryption_key_id)+(x.encryption_key_primary?", primary":"")+")":"NONE";}
function rows(id,html){document.querySelector("#"+id+" tbody").innerHTML=html.join("")||"<tr><td colspan=9>none</td></tr>";}
function render(st){
  var t=Date.now();
  document.getElementById("meta").textContent="version "+st.version+" · up "+dur(st.uptime_ms)+" · config "+st.config+" (generation "+st.config_generation+") · disk "+bytes(st.disk_usage_bytes)+(st.reload_rejected?" - last reload rejected: "+st.reload_rejected:"");
  var s=[],c=[],d=[],f=[];
  st.streams.forEach(function(x){
    x.shards.forEach(function(sh,i){s.push("<tr><td>"+(i?"":esc(x.name))+"</td><td>"+(i?"":x.mode)+"</td><td>"+(i?"":enc(x))+"</td><td>"+esc(sh.id)+"</td><td class='"+(sh.open?"ok'>open":"warn'>closed")+"</td><td class=n>"+num(sh.end_offset)+"</td></tr>");});
    x.consumers.forEach(function(k){c.push("<tr><td>"+esc(x.name)+"</td><td>"+esc(k.name)+"</td><td class=n>"+num(k.behind)+"</td><td class=n>"+dur(k.iterator_age_ms)+"</td></tr>");});
  });
  st.deliveries.forEach(function(x){
    var rate=0;
    if(last&&last.d[x.name]!==undefined){rate=(x.records_delivered-last.d[x.name])*1000/Math.max(1,t-last.t);}
    var cls=x.health==="ok"?"ok":(x.health==="failing"?"bad":"warn");
    d.push("<tr><td>"+esc(x.name)+"</td><td>"+esc(x.sink)+"</td><td class="+cls+">"+esc(x.health)+"</td><td class=n>"+num(x.records_delivered)+"</td><td class=n>"+num(Math.round(rate))+"</td><td class=n>"+bytes(x.bytes_delivered)+"</td><td class=n>"+num(x.records_spilled)+"</td><td class=n>"+Number(x.data_freshness_s).toFixed(1)+" s</td><td>"+(x.last_error?esc(new Date(x.last_error_ms).toISOString().slice(11,19)+" "+x.last_error):"")+"</td></tr>");
  });
  st.sources.forEach(function(x){
    x.files.forEach(function(fl){var w=fl.size?Math.round(80*fl.offset/fl.size):80;f.push("<tr><td>"+esc(x.name)+"</td><td>"+esc(fl.path)+" <span class=bar style='width:"+w+"px'></span></td><td class=n>"+num(fl.offset)+"</td><td class=n>"+num(fl.size)+"</td><td class=n>"+bytes(fl.behind)+"</td></tr>");});
  });
  rows("streams",s);rows("consumers",c);rows("deliveries",d);rows("files",f);
  var m={};st.deliveries.forEach(function(x){m[x.name]=x.records_delivered;});
  last={t:t,d:m};
}
function poll(){
  fetch("/status",{cache:"no-store"}).then(function(r){return r.json();}).then(function(st){document.getElementById("err").textContent="";render(st);})
  .catch(function(e){document.getElementById("err").textContent="daemon unreachable: "+e;})
  .finally(function(){setTimeout(poll,1000);});
}
poll();
</script></body></html>
)HTML";
  return kPage;
}

}  // namespace sluice::agent
