variable "project_id" {
  description = "Google Cloud project that holds the cluster"
  type        = string
}

variable "region" {
  description = "Region of the cluster and its network"
  type        = string
  default     = "europe-west1"
}

variable "cluster_name" {
  description = "Name of the GKE cluster"
  type        = string
  default     = "web"
}

variable "node_count" {
  description = "Nodes per zone in the default pool"
  type        = number
  default     = 1
}

variable "nginx_replicas" {
  description = "Replicas of the nginx deployment"
  type        = number
  default     = 3
}
