output "cluster_endpoint" {
  description = "API server of the cluster"
  value       = google_container_cluster.web.endpoint
}

output "load_balancer_ip" {
  description = "External address of the nginx service"
  value       = kubernetes_service.nginx.status[0].load_balancer[0].ingress[0].ip
}
